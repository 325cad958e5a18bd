<?php
// The database connection and the application's one table. Settings come from php-fpm's
// environment (the phpapp program writes them); the password from a file only this pool's user reads.
declare(strict_types=1);

function db(): PDO
{
    static $pdo = null;
    if ($pdo instanceof PDO) {
        return $pdo;
    }
    $password = file_get_contents((string) getenv('DB_PASSWORD_FILE'));
    if ($password === false) {
        throw new RuntimeException('the database password file cannot be read');
    }
    $dsn = sprintf(
        'mysql:host=%s;port=%d;dbname=%s;charset=utf8mb4',
        getenv('DB_HOST'),
        (int) getenv('DB_PORT'),
        getenv('DB_NAME'),
    );
    $pdo = new PDO($dsn, (string) getenv('DB_USER'), trim($password), [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_DEFAULT_FETCH_MODE => PDO::FETCH_ASSOC,
        // Real prepared statements: values never become SQL text.
        PDO::ATTR_EMULATE_PREPARES => false,
        PDO::ATTR_TIMEOUT => 5,
    ]);
    return $pdo;
}

/** Run `$fn`; when the table does not exist yet (SQLSTATE 42S02), make it and run `$fn` again. */
function withSchema(callable $fn): mixed
{
    try {
        return $fn(db());
    } catch (PDOException $e) {
        if ($e->getCode() !== '42S02') {
            throw $e;
        }
        db()->exec(
            'CREATE TABLE IF NOT EXISTS notes (
               id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
               author VARCHAR(128) NOT NULL,
               body VARCHAR(1000) NOT NULL,
               created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci'
        );
        return $fn(db());
    }
}
