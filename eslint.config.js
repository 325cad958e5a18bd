// Lint rules: typescript-eslint's recommended set; type-aware checks come from `tsc --noEmit`.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", ".venv/", ".venv-checkov/", ".build/", ".serverless/", ".devcluster/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
);
