// Validate one .glb / .gltf with the Khronos glTF-Validator and print its report as JSON.
// Usage: node tools/gltf-validator/validate.js FILE   (after npm ci --prefix tools/gltf-validator)
// Exit status: 0 when the report was printed (the caller reads the issue counts), 2 when
// the validator could not read the file at all.
"use strict";
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

const file = path.resolve(process.argv[2]);
validator
  .validateBytes(new Uint8Array(fs.readFileSync(file)), {
    uri: path.basename(file),
    maxIssues: 0, // no limit
    externalResourceFunction: (uri) =>
      fs.promises.readFile(path.resolve(path.dirname(file), decodeURIComponent(uri))),
  })
  .then(
    (report) => console.log(JSON.stringify(report)),
    (error) => {
      console.error(String(error));
      process.exit(2);
    }
  );
