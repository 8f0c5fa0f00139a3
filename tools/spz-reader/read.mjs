// Load one .spz with two third-party readers and print what each returns as JSON.
// Usage: node tools/spz-reader/read.mjs FILE   (after npm ci --prefix tools/spz-reader)
//
// {"niantic": CLOUD | {"error": MESSAGE}, "spz-js": CLOUD | {"error": MESSAGE}}
//
// niantic: @spz-loader/core, Niantic's C++ loader (nianticlabs/spz load-spz.cc) compiled to
//   WebAssembly, asked for no coordinate conversion and colours as 0.5 + SH_C0 * f_dc; it
//   returns linear scales, opacities in 0..1, x y z w rotations, the higher SH bands.
// spz-js: the SPZ loader of the spz-js package (it reads versions 1 and 2); it returns what
//   the file stores: log scales, opacity logits, f_dc colours, x y z w rotations, SH bands.
// CLOUD: numPoints, shDegree and the per-point arrays flattened, point-major.
// A reader that refuses the file gives {"error": ...}; the exit status is 0 either way.
import fs from "node:fs";
import { loadSpz as loadNiantic } from "@spz-loader/core";
import { loadSpz as loadSpzJs } from "spz-js/dist/spz-loader.js";

const SH_C0 = 0.28209479177387814;
const ARRAYS = ["positions", "scales", "rotations", "alphas", "colors", "sh"];

// @spz-loader/core 0.3.1's Node.js start-up is broken by its bundle (it takes createRequire
// from an empty module: "r is not a function"). Its browser start-up needs nothing from the
// host, the WebAssembly being embedded; it takes that path in an Electron renderer.
process.type = "renderer";

function plain(cloud) {
  const out = { numPoints: cloud.numPoints, shDegree: cloud.shDegree };
  for (const name of ARRAYS) out[name] = Array.from(cloud[name]);
  return out;
}

async function attempt(load) {
  try {
    return plain(await load());
  } catch (error) {
    return { error: String(error) };
  }
}

const bytes = new Uint8Array(fs.readFileSync(process.argv[2]));
const report = {
  niantic: await attempt(() =>
    loadNiantic(bytes.slice(), {
      colorScaleFactor: SH_C0,
      unpackOptions: { coordinateSystem: "UNSPECIFIED" },
    })
  ),
  "spz-js": await attempt(() => loadSpzJs(bytes.slice())),
};
console.log(JSON.stringify(report));
