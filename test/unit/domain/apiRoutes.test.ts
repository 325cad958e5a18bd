import { describe, expect, it } from "vitest";
import {
  apiKeyParameterName,
  decodeApiRoutes,
  encodeApiRoutes,
  parseApiRoute,
} from "../../../functions/domain/apiRoutes.ts";
import { InvalidInputError } from "../../../functions/domain/errors.ts";
import { loadCatalog } from "../../../functions/domain/units/index.ts";
import { readCatalogDir } from "../../../functions/catalog/index.ts";

const problemsOf = (v: string) => {
  const r = parseApiRoute(v);
  expect(Array.isArray(r), JSON.stringify(r)).toBe(true);
  return (r as string[]).join("; ");
};

describe("ApiRoute= lines", () => {
  it("when complete, it gives the route with its key placement, groups, TTL and rate", () => {
    expect(
      parseApiRoute(
        "weather https://api.weather.example/v1/ header:X-Api-Key groups=developers,admins ttl=300 rate=10/s",
      ),
    ).toEqual({
      name: "weather",
      upstream: "https://api.weather.example/v1",
      key: { in: "header", name: "X-Api-Key" },
      groups: ["developers", "admins"],
      ttlSeconds: 300,
      rate: { limit: 10, windowSeconds: 1 },
    });
    expect(parseApiRoute("maps https://maps.example query:key groups=developers")).toMatchObject({
      key: { in: "query", name: "key" },
      ttlSeconds: 60,
      rate: { limit: 60, windowSeconds: 60 },
    });
    expect(parseApiRoute("x https://x.example query:k groups=g ttl=0 rate=5/h")).toMatchObject({
      ttlSeconds: 0,
      rate: { limit: 5, windowSeconds: 3600 },
    });
    expect(apiKeyParameterName("prod", "weather")).toBe("/devcluster/prod/api/weather/key");
  });

  it("when something is wrong, it names each bad part", () => {
    expect(problemsOf("weather https://x.example header:X-Api-Key")).toMatch(/ApiRoute= takes/);
    expect(problemsOf("weather https://x.example header:X-Api-Key ttl=5")).toMatch(/groups= is required/);
    expect(problemsOf("Weather! https://x.example header:K groups=g")).toMatch(/route name 'Weather!'/);
    expect(problemsOf("w http://api.example.com header:K groups=g")).toMatch(/must be https.*in clear/);
    expect(problemsOf("w https://u:p@x.example header:K groups=g")).toMatch(/credentials/);
    expect(problemsOf("w https://x.example/?a=1 header:K groups=g")).toMatch(/query or fragment/);
    expect(problemsOf("w not-a-url header:K groups=g")).toMatch(/not a URL/);
    expect(problemsOf("w https://x.example cookie:K groups=g")).toMatch(/header:<Name> or query:<param>/);
    expect(problemsOf("w https://x.example header:Host groups=g")).toMatch(/set by the proxy/);
    expect(problemsOf("w https://x.example header:X-Remote-User groups=g")).toMatch(/set by the proxy/);
    expect(problemsOf("w https://x.example header:K groups=g ttl=-1")).toMatch(/ttl=-1/);
    expect(problemsOf("w https://x.example header:K groups=g ttl=999999")).toMatch(/ttl=999999/);
    expect(problemsOf("w https://x.example header:K groups=g rate=5/day")).toMatch(/rate=5\/day/);
    expect(problemsOf("w https://x.example header:K groups=g rate=0/s")).toMatch(/rate=0\/s/);
    expect(problemsOf("w https://x.example header:K groups=g cache=user")).toMatch(
      /unknown option 'cache=user'/,
    );
    expect(problemsOf("w https://x.example header:K groups=g groups=h")).toMatch(/given twice/);
    expect(problemsOf("w https://x.example header:K groups=a,b!")).toMatch(/'b!' is not a group name/);
  });

  it("round-trips through the proxy's environment value, and a name declared twice is refused", () => {
    const lines = ["a https://a.example header:K groups=g", "b  https://b.example   query:k groups=g ttl=0"];
    const decoded = decodeApiRoutes(encodeApiRoutes(lines));
    expect((decoded as { name: string }[]).map((r) => r.name)).toEqual(["a", "b"]);
    expect(decodeApiRoutes(encodeApiRoutes([lines[0]!, lines[0]!]))).toEqual([
      "route 2: route 'a' is declared twice",
    ]);
    expect(decodeApiRoutes("")).toEqual([]);
    expect(decodeApiRoutes("a https://a.example header:K groups=g")).toEqual([
      "API_ROUTES is not base64url (the units push writes it from the ApiRoute= lines)",
    ]);
  });
});

describe("ApiRoute= in the catalog", () => {
  const base = readCatalogDir();
  const unit = base["apiproxy@.service"]!;
  const withRoutes = (...lines: string[]) => ({
    ...base,
    "apiproxy@.service": `${unit}\n${lines.map((l) => `ApiRoute=${l}`).join("\n")}\n`,
  });

  it("reaches the proxy's instance as API_ROUTES in its settings file, and changes the unit's hash", () => {
    const plain = loadCatalog(base).files.get("apiproxy@.service")!;
    const c = loadCatalog(
      withRoutes("weather https://api.weather.example/v1 header:X-Api-Key groups=developers"),
    );
    const f = c.files.get("apiproxy@.service")!;
    const line = /^API_ROUTES=(.*)$/m.exec(f.manifest.sidecarEnv ?? "")?.[1];
    // Nothing a shell or systemd would split or quote, and it decodes to the declared route.
    expect(line).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeApiRoutes(line!)).toMatchObject([
      { name: "weather", upstream: "https://api.weather.example/v1" },
    ]);
    expect(f.hash).not.toBe(plain.hash);
    // The unit itself reads that file and passes the routes on.
    expect(f.rendered).toContain("EnvironmentFile=-/etc/devcluster/sidecars/%N.env");
    expect(f.rendered).toContain("-e API_ROUTES=${API_ROUTES}");
  });

  it("refuses the catalog when a route is bad, naming the file and line", () => {
    let err: unknown;
    try {
      loadCatalog(withRoutes("weather http://api.weather.example header:X-Api-Key groups=developers"));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).issues.join("\n")).toMatch(
      /^apiproxy@\.service:\d+: upstream .* must be https/m,
    );
  });
});
