// MediaWiki's rendered settings (pure): what the front door may reach, what PHP is given, and a
// LocalSettings.php that can only say what the unit and SSM gave it.
import { describe, expect, it } from "vitest";
import {
  fpmConf,
  localSettings,
  nginxConf,
  phpString,
  type Paths,
} from "../../../containers/mediawiki/src/config.ts";

const paths: Paths = {
  run: "/run/mediawiki",
  mediawiki: "/usr/share/mediawiki",
  php: "/opt/devcluster/mediawiki/php",
  uploads: "/var/lib/mediawiki-data/images",
};
const settings = {
  siteName: "Team wiki",
  host: "wiki.example.org",
  db: {
    host: "127.0.0.1",
    port: 15437,
    name: "mediawiki",
    user: "mediawiki",
    password: "p4ss-word_x",
    schema: "mediawiki",
  },
  secretKey: "ab".repeat(32),
  upgradeKey: "cd".repeat(8),
  paths,
  maxUploadMb: 20,
  sysopGroups: ["admins"],
};

describe("the wiki's nginx configuration", () => {
  it("when front doors are announced, only they reach MediaWiki, while /healthz answers anyone", () => {
    const conf = nginxConf({
      listen: "10.0.1.5",
      port: 8092,
      doors: ["10.0.0.7", "10.0.0.8"],
      paths,
      maxUploadMb: 20,
    });
    expect(conf).toContain("listen 10.0.1.5:8092;");
    const server = conf.slice(conf.indexOf("server {"));
    expect(server.indexOf("allow 10.0.0.7;")).toBeLessThan(server.indexOf("deny all;"));
    expect(server).toContain("allow 10.0.0.8;");
    const health = server.slice(
      server.indexOf("location = /healthz"),
      server.indexOf("}", server.indexOf("location = /healthz")),
    );
    expect(health).toContain("allow all;");
    expect(health).toContain(`${paths.php}/health.php`);
    // Uploads are files: never handed to PHP, deleted ones not served.
    expect(server).toContain(`alias ${paths.uploads}/;`);
    expect(server).toMatch(/location ~ \\\.php\$ \{ deny all; \}/);
    // MediaWiki's own folder is not served beyond its entry points and static assets.
    expect(server).toContain("location / { return 404; }");
  });

  it("when no front door is known, nobody but the health check gets in", () => {
    const conf = nginxConf({ listen: "10.0.1.5", port: 8092, doors: [], paths, maxUploadMb: 20 });
    expect(conf).not.toMatch(/allow \d/);
    expect(conf).toContain("deny all;");
  });

  it("when an address is not IPv4, it refuses to render", () => {
    expect(() =>
      nginxConf({ listen: "10.0.1.5", port: 8092, doors: ["10.0.0.7; allow all"], paths, maxUploadMb: 20 }),
    ).toThrow(/not IPv4/);
  });
});

describe("php-fpm's pool", () => {
  it("gives PHP the settings file's path and nothing of the environment", () => {
    const conf = fpmConf({ paths, poolUser: "app", maxChildren: 4, maxUploadMb: 20 });
    expect(conf).toContain("clear_env = yes");
    expect(conf).toContain("env[MW_CONFIG_FILE] = /run/mediawiki/secrets/LocalSettings.php");
    expect(conf).toContain("listen.group = www-data");
    expect(conf).toContain("php_admin_value[upload_max_filesize] = 20M");
  });
});

describe("LocalSettings.php", () => {
  it("holds the database, the keys, uploads on the volume and sign-in by the front door only", () => {
    const php = localSettings(settings);
    expect(php).toMatch(/^<\?php\n/);
    expect(php).toContain("$wgServer = '//wiki.example.org';");
    expect(php).toContain("$wgDBtype = 'postgres';");
    expect(php).toContain("$wgDBport = 15437;");
    expect(php).toContain("$wgDBpassword = 'p4ss-word_x';");
    expect(php).toContain(`$wgSecretKey = '${"ab".repeat(32)}';`);
    expect(php).toContain("$wgEnableUploads = true;");
    expect(php).toContain("$wgUploadDirectory = '/var/lib/mediawiki-data/images';");
    expect(php).toContain("$wgGroupPermissions['*']['createaccount'] = false;");
    expect(php).toContain("$wgGroupPermissions['*']['edit'] = false;");
    expect(php).toContain("$wgGroupPermissions['*']['autocreateaccount'] = true;");
    expect(php).toContain("DevclusterRemoteUserSessionProvider::class");
    expect(php).toContain("$wgDevclusterSysopGroups = [ 'admins' ];");
  });

  it("when a value could break out of its PHP string, it is escaped or refused", () => {
    expect(phpString("it's a \\ test")).toBe("'it\\'s a \\\\ test'");
    expect(localSettings({ ...settings, siteName: "Bob's wiki" })).toContain("$wgSitename = 'Bob\\'s wiki';");
    expect(() => localSettings({ ...settings, host: "wiki.example.org'; phpinfo(); '" })).toThrow(
      /host name/,
    );
    expect(() => localSettings({ ...settings, db: { ...settings.db, name: "x'y" } })).toThrow(/dbName/);
    expect(() => localSettings({ ...settings, secretKey: "not hex" })).toThrow(/secretKey/);
    expect(() => localSettings({ ...settings, sysopGroups: ["admins'"] })).toThrow(/group/);
  });
});
