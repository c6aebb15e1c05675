// npm's install step for the package: builds the libtorch addon when libtorch and a compiler are there.
// Without them the install still succeeds (exit 0) with one message saying what to install: the pure-TypeScript
// parts (safetensors, data, plots) work without the addon, which is loaded only when a tensor is first needed.
// A failing build with everything present is an error (exit 1): that is a bug to see, not to hide.
import { buildNative, missingForBuild } from './build-native.mjs';

if (process.env.ADVEXP_SKIP_NATIVE === '1') {
  console.log('advexp: ADVEXP_SKIP_NATIVE=1: native addon not built');
  process.exit(0);
}
const missing = missingForBuild();
if (missing.length > 0) {
  console.warn(`advexp: native addon NOT built (missing ${missing.join(', ')}). Tensors, models and every CLI command need it; `
    + 'the pure-TypeScript parts work without. Install: sudo apt-get install libtorch-dev g++ make python3 (Debian/Ubuntu) '
    + 'or set LIBTORCH=/path/to/libtorch, then: npm rebuild advexp');
  process.exit(0);
}
process.exit(buildNative());
