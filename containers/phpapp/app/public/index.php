<?php
// The sample application: a guestbook of short notes. GET / lists the latest notes and a form,
// POST / adds one as the signed-in user (X-Remote-User, set by the front door), GET /notes.json
// lists them as JSON. A team's own application replaces this file (docs/SERVICES.md).
declare(strict_types=1);
require __DIR__ . '/../src/db.php';

const MAX_BODY = 1000;

function answer(int $status, string $type, string $text): never
{
    http_response_code($status);
    header("Content-Type: $type");
    header('Cache-Control: no-store');
    header("Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
    header('X-Content-Type-Options: nosniff');
    echo $text;
    exit;
}

function h(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

$user = (string) ($_SERVER['HTTP_X_REMOTE_USER'] ?? '');
if ($user === '') {
    answer(401, 'text/plain; charset=utf-8', "sign in first\n");
}
$path = parse_url((string) $_SERVER['REQUEST_URI'], PHP_URL_PATH) ?: '/';
$method = (string) $_SERVER['REQUEST_METHOD'];

try {
    if ($path === '/' && $method === 'POST') {
        // A form sent from another site is refused (browsers say where a request comes from).
        $site = (string) ($_SERVER['HTTP_SEC_FETCH_SITE'] ?? 'same-origin');
        if (!in_array($site, ['same-origin', 'none'], true)) {
            answer(403, 'text/plain; charset=utf-8', "refused: not sent from this site\n");
        }
        $body = $_POST['body'] ?? null;
        if (!is_string($body) || !mb_check_encoding($body, 'UTF-8')) {
            answer(400, 'text/plain; charset=utf-8', "body: the note's text, in UTF-8\n");
        }
        $body = trim($body);
        if ($body === '' || mb_strlen($body) > MAX_BODY) {
            answer(400, 'text/plain; charset=utf-8', 'body: 1 to ' . MAX_BODY . " characters\n");
        }
        $id = withSchema(function (PDO $db) use ($user, $body): string {
            $st = $db->prepare('INSERT INTO notes (author, body) VALUES (?, ?)');
            $st->execute([mb_substr($user, 0, 128), $body]);
            return $db->lastInsertId();
        });
        // Answered once committed (autocommit); the browser goes back to the list.
        header('Location: /', true, 303);
        header("X-Note-Id: $id");
        exit;
    }
    if (($path === '/' || $path === '/notes.json') && ($method === 'GET' || $method === 'HEAD')) {
        $notes = withSchema(
            fn(PDO $db) => $db->query(
                'SELECT id, author, body, created_at FROM notes ORDER BY id DESC LIMIT 100'
            )->fetchAll()
        );
        if ($path === '/notes.json') {
            answer(200, 'application/json', json_encode(['user' => $user, 'notes' => $notes]) . "\n");
        }
        $user_html = h($user);
        $items = '';
        foreach ($notes as $n) {
            $items .= '<li><b>' . h($n['author']) . '</b> <small>' . h($n['created_at']) . '</small><br>'
                . nl2br(h($n['body'])) . "</li>\n";
        }
        answer(200, 'text/html; charset=utf-8', <<<HTML
            <!doctype html>
            <html><head><meta charset="utf-8"><title>Notes</title></head>
            <body>
            <p>Signed in as <b>{$user_html}</b></p>
            <form method="post" action="/">
              <textarea name="body" maxlength="1000" required></textarea>
              <button>Add</button>
            </form>
            <ul>
            $items</ul>
            </body></html>

            HTML);
    }
    answer(404, 'text/plain; charset=utf-8', "not found\n");
} catch (PDOException $e) {
    error_log('database: ' . $e->getMessage());
    answer(503, 'text/plain; charset=utf-8', "the database is unavailable; try again\n");
}
