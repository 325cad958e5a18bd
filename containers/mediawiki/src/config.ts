// MediaWiki's server settings (pure): nginx's configuration (HTTP on the node's private address,
// PHP through php-fpm's socket, uploads from the volume, only the announced front doors let in),
// php-fpm's pool, and the LocalSettings.php the program writes at every start.
import { fpmPoolHead } from "../../shared/phpConf.ts";

export interface Paths {
  /** Where the program writes what it renders, the sockets, pid files and temporary files. */
  run: string;
  /** MediaWiki's code (Debian's package): index.php, api.php, resources/, skins/ ... */
  mediawiki: string;
  /** Our PHP files beside the program: the session provider, /healthz, the schema step. */
  php: string;
  /** Uploaded files: on the service's volume. */
  uploads: string;
}

/** An nginx address: only IPv4 dotted quads reach the configuration (they come from etcd). */
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const DNS_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const IDENT = /^[A-Za-z0-9_.-]+$/;

export const fpmSocket = (p: Paths) => `${p.run}/php-fpm.sock`;
export const secretsDir = (p: Paths) => `${p.run}/secrets`;
export const localSettingsFile = (p: Paths) => `${secretsDir(p)}/LocalSettings.php`;
/** The database's settings (JSON, the password included) for our PHP files: /healthz and the schema step. */
export const dbFile = (p: Paths) => `${secretsDir(p)}/db.json`;
export const tmpDir = (p: Paths) => `${p.run}/tmp`;

/** The PHP scripts MediaWiki itself answers on; everything else is a static file or a wiki page. */
const ENTRY_POINTS = ["index", "api", "load", "rest", "img_auth", "opensearch_desc"];

/**
 * nginx.conf: `doors` are the front doors' private addresses, the only callers of the wiki (they
 * strip X-Remote-User from outside and set it); /healthz answers anyone (presence, on the node).
 */
export function nginxConf(o: {
  listen: string;
  port: number;
  doors: string[];
  paths: Paths;
  maxUploadMb: number;
}): string {
  const bad = [o.listen, ...o.doors].filter((a) => !IPV4.test(a));
  if (bad.length) throw new Error(`not IPv4 addresses: ${bad.join(", ")}`);
  const fastcgi = (script: string) => [
    "      include /etc/nginx/fastcgi_params;",
    `      fastcgi_param SCRIPT_FILENAME ${script};`,
    `      fastcgi_pass unix:${fpmSocket(o.paths)};`,
    // MediaWiki's pages and API answers can be larger than nginx's default buffers.
    "      fastcgi_buffers 16 16k;",
    "      fastcgi_buffer_size 32k;",
  ];
  const mw = o.paths.mediawiki;
  return [
    "# Written by the mediawiki program at start and whenever the front doors change; edits are replaced.",
    "worker_processes 1;",
    "daemon off;",
    "user www-data;",
    `pid ${o.paths.run}/nginx.pid;`,
    "error_log stderr warn;",
    "events { worker_connections 256; }",
    "http {",
    "  include /etc/nginx/mime.types;",
    "  default_type application/octet-stream;",
    "  access_log off;",
    "  server_tokens off;",
    `  client_max_body_size ${o.maxUploadMb}m;`,
    `  client_body_temp_path ${o.paths.run}/nginx-body;`,
    `  fastcgi_temp_path ${o.paths.run}/nginx-fastcgi;`,
    `  proxy_temp_path ${o.paths.run}/nginx-proxy;`,
    `  uwsgi_temp_path ${o.paths.run}/nginx-uwsgi;`,
    `  scgi_temp_path ${o.paths.run}/nginx-scgi;`,
    "  server {",
    `    listen ${o.listen}:${o.port};`,
    `    root ${mw};`,
    // Everything but /healthz: the front doors only (an empty list lets nobody in).
    ...o.doors.map((d) => `    allow ${d};`),
    "    deny all;",
    "    location = /healthz {",
    "      allow all;",
    ...fastcgi(`${o.paths.php}/health.php`),
    "    }",
    `    location ~ ^/(${ENTRY_POINTS.join("|")})\\.php(/|$) {`,
    "      fastcgi_split_path_info ^(.+?\\.php)(/.*)$;",
    ...fastcgi(`${mw}$fastcgi_script_name`),
    "      fastcgi_param PATH_INFO $fastcgi_path_info;",
    "    }",
    // Pages at /wiki/<title> ($wgArticlePath): index.php reads the title from the original URI.
    "    location /wiki/ { rewrite ^ /index.php last; }",
    "    location = / { rewrite ^ /index.php last; }",
    // Uploads are served as files, never run; deleted and temporary ones not at all.
    "    location ^~ /images/ {",
    `      alias ${o.paths.uploads}/;`,
    '      add_header X-Content-Type-Options "nosniff";',
    "      location ~ ^/images/(deleted|temp|lockdir)/ { deny all; }",
    "      location ~ \\.php$ { deny all; }",
    "    }",
    "    location ~ ^/(resources|skins|extensions)/.+\\.(css|js|json|svg|png|jpe?g|gif|ico|woff2?|ttf|eot)$ {",
    "      expires 7d;",
    "      try_files $uri =404;",
    "    }",
    "    location = /favicon.ico { return 404; }",
    // Nothing else of MediaWiki's folder is served (maintenance/, includes/, composer files).
    "    location / { return 404; }",
    "  }",
    "}",
    "",
  ].join("\n");
}

/** php-fpm's configuration: one pool, its user `poolUser`, MediaWiki's settings file in its environment. */
export function fpmConf(o: {
  paths: Paths;
  poolUser: string;
  maxChildren: number;
  maxUploadMb: number;
}): string {
  return [
    ...fpmPoolHead({
      program: "mediawiki",
      runDir: o.paths.run,
      pool: "wiki",
      poolUser: o.poolUser,
      socket: fpmSocket(o.paths),
      maxChildren: o.maxChildren,
    }),
    `env[MW_CONFIG_FILE] = ${localSettingsFile(o.paths)}`,
    `env[TMPDIR] = ${tmpDir(o.paths)}`,
    `env[DEVCLUSTER_DB_FILE] = ${dbFile(o.paths)}`,
    "php_admin_flag[display_errors] = off",
    "php_admin_flag[log_errors] = on",
    "php_admin_flag[expose_php] = off",
    `php_admin_value[upload_tmp_dir] = ${tmpDir(o.paths)}`,
    `php_admin_value[sys_temp_dir] = ${tmpDir(o.paths)}`,
    `php_admin_value[upload_max_filesize] = ${o.maxUploadMb}M`,
    `php_admin_value[post_max_size] = ${o.maxUploadMb + 1}M`,
    "php_admin_value[memory_limit] = 256M",
    "",
  ].join("\n");
}

export interface WikiSettings {
  /** The wiki's name (its project namespace is "Project"). */
  siteName: string;
  /** The cluster's domain: the wiki is wiki.<domain> ($wgServer protocol-relative, canonical https). */
  host: string;
  db: { host: string; port: number; name: string; user: string; password: string; schema: string };
  secretKey: string;
  upgradeKey: string;
  paths: Paths;
  maxUploadMb: number;
  /** The front door's groups whose members become the wiki's administrators (sysop). */
  sysopGroups: string[];
}

/** A PHP single-quoted string literal. */
export const phpString = (s: string) => `'${s.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;

/**
 * LocalSettings.php: the whole configuration, made from the unit's settings and the secrets at
 * every start (nothing of it lives on the volume or in the image). Sign-in is only the front
 * door's: our session provider takes X-Remote-User and the account is made on first sight.
 */
export function localSettings(s: WikiSettings): string {
  if (!DNS_NAME.test(s.host)) throw new Error(`not a host name: ${JSON.stringify(s.host)}`);
  for (const [k, v] of Object.entries({
    dbHost: s.db.host,
    dbName: s.db.name,
    dbUser: s.db.user,
    schema: s.db.schema,
  }))
    if (!IDENT.test(v)) throw new Error(`${k}: not a host or name: ${JSON.stringify(v)}`);
  for (const [k, v] of Object.entries({ secretKey: s.secretKey, upgradeKey: s.upgradeKey }))
    if (!/^[0-9a-f]{16,128}$/.test(v)) throw new Error(`${k}: not a hexadecimal key`);
  for (const g of s.sysopGroups)
    if (!/^[A-Za-z0-9_-]+$/.test(g)) throw new Error(`not a group name: ${JSON.stringify(g)}`);
  const q = phpString;
  return [
    "<?php",
    "# Written by the mediawiki program at every start from the unit's settings and SSM; edits are replaced.",
    "if ( !defined( 'MEDIAWIKI' ) ) { exit; }",
    "",
    `$wgSitename = ${q(s.siteName)};`,
    "$wgMetaNamespace = 'Project';",
    // Protocol-relative: the front door serves https (or http on a local cluster without TLS).
    `$wgServer = ${q(`//${s.host}`)};`,
    `$wgCanonicalServer = ${q(`https://${s.host}`)};`,
    "$wgScriptPath = '';",
    "$wgArticlePath = '/wiki/$1';",
    "$wgUsePathInfo = true;",
    "$wgResourceBasePath = $wgScriptPath;",
    "$wgLogos = [ '1x' => \"$wgResourceBasePath/resources/assets/change-your-logo.svg\", 'icon' => \"$wgResourceBasePath/resources/assets/change-your-logo.svg\" ];",
    "$wgLanguageCode = 'en';",
    "$wgLocaltimezone = 'UTC';",
    "$wgEnableEmail = false;",
    "$wgEnableUserEmail = false;",
    "$wgEnotifUserTalk = false;",
    "$wgEnotifWatchlist = false;",
    "",
    "$wgDBtype = 'postgres';",
    `$wgDBserver = ${q(s.db.host)};`,
    `$wgDBport = ${s.db.port};`,
    `$wgDBname = ${q(s.db.name)};`,
    `$wgDBuser = ${q(s.db.user)};`,
    `$wgDBpassword = ${q(s.db.password)};`,
    `$wgDBmwschema = ${q(s.db.schema)};`,
    "$wgDBssl = false;",
    "",
    // No cache server: the object and message caches in php-fpm's APCu (one instance), sessions and
    // parsed pages in the database, so a restart or a move keeps them.
    "$wgMainCacheType = CACHE_ACCEL;",
    "$wgMessageCacheType = CACHE_ACCEL;",
    "$wgSessionCacheType = CACHE_DB;",
    "$wgParserCacheType = CACHE_DB;",
    `$wgTmpDirectory = ${q(tmpDir(s.paths))};`,
    `$wgCacheDirectory = ${q(`${s.paths.run}/cache`)};`,
    "",
    "$wgEnableUploads = true;",
    `$wgUploadDirectory = ${q(s.paths.uploads)};`,
    "$wgUploadPath = '/images';",
    `$wgMaxUploadSize = ${s.maxUploadMb * 1024 * 1024};`,
    "$wgUseImageMagick = false;",
    "$wgUseInstantCommons = false;",
    "$wgFileExtensions = [ 'png', 'gif', 'jpg', 'jpeg', 'webp', 'svg', 'pdf', 'txt' ];",
    "",
    `$wgSecretKey = ${q(s.secretKey)};`,
    `$wgUpgradeKey = ${q(s.upgradeKey)};`,
    "$wgAuthenticationTokenVersion = '1';",
    "$wgRightsText = '';",
    "$wgDiff3 = '';",
    "$wgShellRestrictionMethod = false;",
    "",
    "wfLoadSkin( 'Vector' );",
    "$wgDefaultSkin = 'vector-2022';",
    "",
    // Who may do what: everyone reaching the wiki was let in by the front door's groups
    // (developers, admins); nobody makes an account or edits without being signed in there.
    "$wgGroupPermissions['*']['createaccount'] = false;",
    "$wgGroupPermissions['*']['autocreateaccount'] = true;",
    "$wgGroupPermissions['*']['edit'] = false;",
    "$wgGroupPermissions['*']['createpage'] = false;",
    "$wgGroupPermissions['user']['edit'] = true;",
    "$wgGroupPermissions['user']['createpage'] = true;",
    "$wgGroupPermissions['user']['upload'] = true;",
    "$wgGroupPermissions['user']['reupload'] = true;",
    "",
    `require_once ${q(`${s.paths.php}/DevclusterRemoteUser.php`)};`,
    `$wgDevclusterSysopGroups = [ ${s.sysopGroups.map(q).join(", ")} ];`,
    "$wgSessionProviders[DevclusterRemoteUserSessionProvider::class] = [",
    "  'class' => DevclusterRemoteUserSessionProvider::class,",
    "  'args' => [ [ 'sessionCookieName' => 'devcluster_wiki_session' ] ],",
    "];",
    "$wgHooks['UserEffectiveGroups'][] = 'DevclusterRemoteUserSessionProvider::onUserEffectiveGroups';",
    "",
  ].join("\n");
}
