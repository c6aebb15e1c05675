// Two runs' model.safetensors used to share one legend entry in `eval --plot` ("model"): labels now add parent
// folders only where names collide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelLabels } from '../../src/cli/common.js';

test('modelLabels: unique names stay short; colliding ones gain parent folders until they differ', () => {
  assert.deepEqual(modelLabels(['models/default.safetensors', 'models/standard-r44.safetensors']), ['default', 'standard-r44']);
  assert.deepEqual(modelLabels(['runs/a/model.safetensors', 'runs/b/model.safetensors', 'm.pt']), ['a/model', 'b/model', 'm.pt']);
  assert.deepEqual(modelLabels(['x/a/model.safetensors', 'y/a/model.safetensors']), ['x/a/model', 'y/a/model']);
  assert.deepEqual(modelLabels(['same.safetensors', 'same.safetensors']).length, 2); // the same file twice ends, at full paths
});
