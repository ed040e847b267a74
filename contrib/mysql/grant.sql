-- grant.sql - the account binhook connects with, and no more rights than it
-- needs. For MariaDB and MySQL alike.
--
-- Before running it, edit three things:
--   'binhook'@'%'   the account: narrow '%' to the host binhook runs on
--                   (e.g. '10.0.0.7', or 'localhost' over the Unix socket)
--   'change-me'     its password; binhook reads it from the environment
--                   variable BINHOOK_MYSQL_PASSWORD ([source] password_env)
--   `shop`          the schema(s) binhook streams ([source] tables): one
--                   GRANT SELECT line per schema, or per table
-- then, as an administrator:
--   mariadb -u root < grant.sql        (MySQL: mysql -u root -p < grant.sql)
-- and check the result with
--   binhook doctor -c /etc/binhook/gateway.toml
-- which reads SHOW GRANTS and says what is missing, with the statement
-- that adds it.
--
-- The account can read the binlog of every table (that is what REPLICATION
-- SLAVE means: the server has no per-table filter for replicas), but no
-- table's rows outside the schemas granted below, and it can change nothing.

-- Running the file again keeps an existing account and its password.
-- MySQL 8 accounts use caching_sha2_password: binhook connects with TLS
-- ([source] tls, "preferred" by default), which that plugin needs over TCP.
CREATE USER IF NOT EXISTS 'binhook'@'%' IDENTIFIED BY 'change-me';

-- REPLICATION SLAVE: to register as a replica and stream the binary log
--   (COM_REGISTER_SLAVE, COM_BINLOG_DUMP and COM_BINLOG_DUMP_GTID).
-- REPLICATION CLIENT: for SHOW MASTER STATUS (SHOW BINARY LOG STATUS on
--   MySQL 8.4+), which tells where "end" is, and SHOW BINARY LOGS, for
--   "start" and for doctor's view of the retention. MariaDB 10.5 renamed it
--   BINLOG MONITOR and takes the old name as an alias: SHOW GRANTS and
--   binhook doctor print BINLOG MONITOR there.
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'binhook'@'%';

-- SELECT on the streamed schemas only: binhook reads the column names and
-- primary keys of these tables from information_schema.COLUMNS and
-- KEY_COLUMN_USAGE when the binlog lacks them (binlog_row_metadata=MINIMAL),
-- and reads their rows for an initial snapshot. information_schema shows an
-- account only the tables it has a privilege on, so a table left out here
-- has its columns named @1, @2, ... in that case. binhook doctor reports
-- this grant as "privilege SELECT = on `shop`.* only".
GRANT SELECT ON `shop`.* TO 'binhook'@'%';
-- or table by table:
-- GRANT SELECT ON `shop`.`orders` TO 'binhook'@'%';

-- MySQL only, and only for an initial snapshot: MySQL does not say at which
-- binlog position a consistent-snapshot transaction starts, so binhook holds
-- LOCK TABLES ... READ on the snapshot's tables for the moment it takes to
-- start one and read the position (MariaDB reports the position and needs
-- no lock). Narrower than RELOAD, which FLUSH TABLES WITH READ LOCK needs.
-- GRANT LOCK TABLES ON `shop`.* TO 'binhook'@'%';
