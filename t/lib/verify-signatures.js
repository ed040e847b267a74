// verify-signatures.js - checks the webhook-signature of every request a
// receiver logged (t/lib/receiver.py's JSON lines) with the standardwebhooks
// package from the npm registry: an implementation that owes binhook
// nothing. Prints the number verified; exits 1 at the first failure.
//
// usage: node verify-signatures.js NODE_MODULES LOGFILE SECRET [PATH-PREFIX]
const path = require("path");
const fs = require("fs");
const [modules, logfile, secret, prefix] = process.argv.slice(2);
const { Webhook } = require(path.join(modules, "standardwebhooks"));
const wh = new Webhook(secret);
let n = 0;
for (const line of fs.readFileSync(logfile, "utf8").split("\n")) {
  if (!line) continue;
  const q = JSON.parse(line);
  if (prefix && !q.path.startsWith(prefix)) continue;
  try {
    // verify() checks the timestamp too: it must be within 5 minutes of now
    wh.verify(q.body, q.headers);
  } catch (e) {
    console.error(`not verified: ${q.method} ${q.path} ${q.headers["webhook-id"]}: ${e.message}`);
    process.exit(1);
  }
  n++;
}
console.log(n);
