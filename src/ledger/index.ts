export * from "./call-record.js";
export * from "./money.js";
export * from "./price-table.js";
export * from "./pricing.js";
export * from "./summary.js";
export * from "./token-tracker.js";
export * from "./tracker-registry.js";
export * from "./usage.js";
