/** The memcap service version, reported by /v1/health and the OpenAPI document. */
export const VERSION = "0.1.0";
