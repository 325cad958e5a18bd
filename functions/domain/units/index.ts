// Fleet-format units: parse/render, catalog, placement, push planning.
export * from "./names.ts";
export * from "./unitFile.ts";
export * from "./fleet.ts";
export * from "./catalog.ts";
export * from "./placement.ts";
export * from "./push.ts";
export * from "./plan.ts";
