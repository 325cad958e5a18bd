<?php
// MediaWiki's schema in the wiki's database, made once and brought up to date at every start.
// Under a Postgres advisory lock (two starts at once take turns): if the schema is not there,
// MediaWiki's own installer makes it in a side schema, which is renamed into place in one
// transaction only once the installer finished, so a start that dies half-way never leaves a
// half-made wiki in use (the side schema is dropped and made again next time). An existing schema
// is never installed over: it only goes through MediaWiki's update.php, which is idempotent.
// Prints one JSON line per step on stdout; exit 0 done, 3 database unreachable, 1 failed.
declare(strict_types=1);

function say(string $code, array $more = []): void {
    echo json_encode(['code' => $code] + $more), "\n";
}

$db = json_decode((string) file_get_contents((string) getenv('DEVCLUSTER_DB_FILE')), true, 4, JSON_THROW_ON_ERROR);
$mw = (string) getenv('MW_INSTALL_PATH');
$schema = $db['schema'];
$side = $schema . '_install';
$c = @pg_connect(sprintf(
    "host='%s' port='%d' dbname='%s' user='%s' password='%s' connect_timeout=5",
    $db['host'], $db['port'], $db['name'], $db['user'], $db['password']
));
if ($c === false) {
    say('db.unreachable');
    exit(3);
}
$one = function (string $sql, array $params = []) use ($c) {
    $r = pg_query_params($c, $sql, $params);
    if ($r === false) throw new RuntimeException(pg_last_error($c));
    return pg_fetch_row($r)[0] ?? null;
};
$exec = function (string $sql) use ($c): void {
    if (pg_query($c, $sql) === false) throw new RuntimeException(pg_last_error($c));
};
$schemaExists = fn(string $name) => $one('SELECT count(*) FROM pg_namespace WHERE nspname = $1', [$name]) === '1';

/** Run a MediaWiki maintenance script with `args`; its output goes to our stderr. */
function maintenance(string $mw, array $args, array $env): int {
    $cmd = array_merge(['php', "$mw/maintenance/run.php"], $args);
    $p = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => STDERR, 2 => STDERR], $pipes, $mw, $env);
    if (!is_resource($p)) return 127;
    return proc_close($p);
}

$exec("SELECT pg_advisory_lock(hashtext('devcluster-mediawiki-schema'))");
try {
    $base = ['PATH' => getenv('PATH'), 'LANG' => 'C.UTF-8', 'TMPDIR' => (string) getenv('TMPDIR')];
    if (!$schemaExists($schema)) {
        if ($schemaExists($side)) {
            // Left by an install that did not finish: never used, so made again.
            $exec("DROP SCHEMA \"$side\" CASCADE");
            say('install.leftover_dropped', ['schema' => $side]);
        }
        say('install.started', ['schema' => $side]);
        $conf = (string) getenv('DEVCLUSTER_INSTALL_DIR');
        $code = maintenance($mw, [
            'install',
            '--dbtype=postgres',
            "--dbserver={$db['host']}",
            "--dbport={$db['port']}",
            "--dbname={$db['name']}",
            "--dbuser={$db['user']}",
            "--dbpassfile={$conf}/db-password",
            // No install user: the installer then installs as the wiki's own user, the owner of its database.
            "--dbschema=$side",
            "--server=" . getenv('WIKI_SERVER'),
            '--scriptpath=',
            "--confpath=$conf",
            "--passfile={$conf}/admin-password",
            (string) getenv('WIKI_NAME'),
            (string) getenv('WIKI_INSTALL_ADMIN'),
        ], $base);
        if ($code !== 0) {
            say('install.failed', ['exit' => $code]);
            exit(1);
        }
        $exec("BEGIN; ALTER SCHEMA \"$side\" RENAME TO \"$schema\"; COMMIT");
        say('install.done', ['schema' => $schema]);
    }
    $code = maintenance($mw, ['update', '--quick'], $base + ['MW_CONFIG_FILE' => (string) getenv('MW_CONFIG_FILE')]);
    if ($code !== 0) {
        say('update.failed', ['exit' => $code]);
        exit(1);
    }
    say('update.done', ['schema' => $schema]);
} finally {
    $exec("SELECT pg_advisory_unlock(hashtext('devcluster-mediawiki-schema'))");
}
