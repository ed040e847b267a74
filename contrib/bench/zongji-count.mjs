// zongji-count.mjs - the Node.js peer of the decode benchmark: ZongJi
// (@vlasky/zongji from the npm registry) reads the replication stream from a
// position and decodes every row; this counts the rows of the insert,
// update and delete events until it has seen ROWS of them, and prints how
// long that took. The clock starts before ZongJi connects, as it does for
// `binhook tail`.
//
// usage: node zongji-count.mjs NPMDIR HOST PORT USER FILE POS ROWS
//   NPMDIR  the npm prefix @vlasky/zongji is installed in (run.sh installs it)
//   the password comes from BINHOOK_MYSQL_PASSWORD
// prints: rows=N seconds=S
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [npmDir, host, port, user, file, pos, rowsArg] = process.argv.slice(2);
if (!rowsArg) {
  console.error('usage: node zongji-count.mjs NPMDIR HOST PORT USER FILE POS ROWS');
  process.exit(2);
}
const want = Number(rowsArg);

let entry;
try {
  entry = createRequire(join(npmDir, 'package.json')).resolve('@vlasky/zongji');
} catch (e) {
  console.error(`zongji-count: @vlasky/zongji is not installed under '${npmDir}': ` +
    `npm install --prefix '${npmDir}' @vlasky/zongji`);
  process.exit(2);
}
const { default: ZongJi } = await import(pathToFileURL(entry).href);

const t0 = process.hrtime.bigint();
const zongji = new ZongJi({
  host,
  port: Number(port),
  user,
  password: process.env.BINHOOK_MYSQL_PASSWORD || '',
});
let rows = 0;
let done = false;

zongji.on('error', (err) => {
  if (done) return;
  console.error(`zongji-count: ${err && err.message ? err.message : err}`);
  process.exit(1);
});

zongji.on('binlog', (evt) => {
  if (done || !evt.rows) return;
  rows += evt.rows.length;
  if (rows >= want) {
    done = true;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`rows=${rows} seconds=${seconds.toFixed(3)}`);
    zongji.stop();
    // stop() closes the connections; do not wait for the server's side
    setTimeout(() => process.exit(0), 100).unref();
  }
});

zongji.start({
  serverId: 4244,
  filename: file,
  position: Number(pos),
  includeEvents: ['tablemap', 'writerows', 'updaterows', 'deleterows'],
});
