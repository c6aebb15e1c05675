// The model file behind each net of the AutoAttack table and its sha256, which every result file records: a rerun
// may only grow a file measured on the same weights, and the table marks a row whose file no longer matches.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const modelFile = (net: string, shared: string): string =>
  (net === 'default' ? 'models/default.safetensors' : path.join(shared, 'models', 'reference', `resnet44-${net}.safetensors`));

export const fileSha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
