// Print the Khronos glTF-Validator report (JSON) for one GLB: a path argument, or stdin when none.
const fs = require("fs");
const validator = require("gltf-validator");

const path = process.argv[2];
const bytes = new Uint8Array(path && path !== "-" ? fs.readFileSync(path) : fs.readFileSync(0));

validator
  .validateBytes(bytes, { maxIssues: 100 })
  .then((report) => process.stdout.write(JSON.stringify(report) + "\n"))
  .catch((error) => {
    process.stderr.write(`validation failed to run: ${error}\n`);
    process.exit(2);
  });
