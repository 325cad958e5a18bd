<?php
// /healthz: 200 when the wiki's database answers with MediaWiki's tables in place, 503 otherwise
// (presence announces the instance only then). The connection settings are the program's file.
declare(strict_types=1);

header('Content-Type: application/json');
header('Cache-Control: no-store');
try {
    $db = json_decode((string) file_get_contents((string) getenv('DEVCLUSTER_DB_FILE')), true, 4, JSON_THROW_ON_ERROR);
    $c = @pg_connect(sprintf(
        "host='%s' port='%d' dbname='%s' user='%s' password='%s' connect_timeout=3",
        $db['host'], $db['port'], $db['name'], $db['user'], $db['password']
    ));
    if ($c === false) throw new RuntimeException('no connection to the database');
    $r = pg_query_params($c, 'SELECT to_regclass($1) IS NOT NULL', [$db['schema'] . '.page']);
    if ($r === false || pg_fetch_row($r)[0] !== 't') throw new RuntimeException('MediaWiki\'s tables are missing');
    pg_close($c);
    echo json_encode(['ok' => true]), "\n";
} catch (Throwable $e) {
    http_response_code(503);
    // The reason goes to the log, never to the caller.
    error_log('healthz: ' . $e->getMessage());
    echo json_encode(['ok' => false, 'error' => 'database unavailable']), "\n";
}
