// Models as stored records with their weights (no GPU here): schemas and store operations.
export * from "./schemas.ts";
export * from "./models.ts";
