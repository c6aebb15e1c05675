// Two runs' model.safetensors used to share one name in eval's --plot legend and table (and in explain, gradcam-attack and
// explain-eval with several models): labels now add parent folders only where names collide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelLabels } from '../../src/cli/common.js';
import { markdownTable } from '../../src/cli/explain-eval.js';

test('modelLabels: unique names stay short; colliding ones gain parent folders until they differ', () => {
  assert.deepEqual(modelLabels(['models/default.safetensors', 'models/standard-r44.safetensors']), ['default', 'standard-r44']);
  assert.deepEqual(modelLabels(['runs/a/model.safetensors', 'runs/b/model.safetensors', 'm.pt']), ['a/model', 'b/model', 'm.pt']);
  assert.deepEqual(modelLabels(['x/a/model.safetensors', 'y/a/model.safetensors']), ['x/a/model', 'y/a/model']);
  assert.deepEqual(modelLabels(['same.safetensors', 'same.safetensors']).length, 2); // the same file twice ends, at full paths
});

test('explain-eval markdownTable: two runs named model.safetensors get two row names', () => {
  const row = { method: 'gradcam', n: 1, reach: 0, reachWrong: 0, deletion: 0, deletionSe: 0, insertion: 0, insertionSe: 0, seconds: 1 };
  const md = markdownTable([{ ...row, model: 'runs/a/model.safetensors' }, { ...row, model: 'runs/b/model.safetensors' }]);
  assert.match(md, /\| a\/model \| gradcam/);
  assert.match(md, /\| b\/model \| gradcam/);
});
