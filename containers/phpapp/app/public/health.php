<?php
// /healthz: 200 when the database answers, 503 otherwise (presence announces the instance only then).
declare(strict_types=1);
require __DIR__ . '/../src/db.php';

header('Content-Type: application/json');
header('Cache-Control: no-store');
try {
    db()->query('SELECT 1')->fetchColumn();
    echo json_encode(['ok' => true]), "\n";
} catch (Throwable $e) {
    http_response_code(503);
    // The reason goes to the log, never to the caller.
    error_log('healthz: ' . $e->getMessage());
    echo json_encode(['ok' => false, 'error' => 'database unavailable']), "\n";
}
