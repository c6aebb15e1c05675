// TorchScript model files: loading one as a ScriptModule (nn/script.ts) with one-line errors naming the file, and
// writing one atomically (temp file, fsync, rename), e.g. after fine-tuning (`train --init file.pt`).
import fs from 'node:fs';
import { JitModule } from '../engine/index.js';
import { ScriptModule, type ScriptModuleOptions } from '../nn/script.js';
import { writeFileAtomic } from './atomic.js';
import { errnoOf } from './errors.js';
import { regularFile } from './files.js';

/** How to turn a PyTorch model into a file loadScriptModule reads. */
export const TORCHSCRIPT_EXPORT_HINT = 'export it with torch.jit.script(model).save(f) or torch.jit.trace(model, example_input).save(f)';

/**
 * Loads a TorchScript file as a Module in eval mode. Errors are one line naming the file: missing or not a regular
 * file; a plain torch.save pickle (state dict or whole module) with the export command; anything else libtorch
 * cannot read as TorchScript.
 */
export function loadScriptModule(file: string, opts: ScriptModuleOptions = {}): ScriptModule {
  regularFile(file, 'TorchScript model');
  let jit: JitModule;
  try {
    jit = JitModule.load(file);
  } catch (e) {
    const msg = (e as Error).message.replace(/^libtorch: /, '');
    if (isTorchSavePickle(file, msg)) {
      throw new Error(`${file}: a torch.save pickle (a state dict or a pickled module), not TorchScript: ${TORCHSCRIPT_EXPORT_HINT}`);
    }
    throw new Error(`${file}: not a TorchScript file (${msg.split('\n')[0]})`);
  }
  try {
    return new ScriptModule(file, jit, opts).eval();
  } catch (e) {
    jit.dispose();
    throw e;
  }
}

/**
 * torch.save writes a zip archive holding data.pkl but no TorchScript code (libtorch then misses constants.pkl), or,
 * before PyTorch 1.6 / with _use_new_zipfile_serialization=False, a bare pickle stream (protocol 2: 0x80 0x02).
 */
function isTorchSavePickle(file: string, libtorchMessage: string): boolean {
  if (/constants\.pkl|code\//.test(libtorchMessage)) return true;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const head = Buffer.alloc(2);
      fs.readSync(fd, head, 0, 2, 0);
      return head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5;
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw new Error(`${file}: cannot read TorchScript model (${errnoOf(e)})`);
  }
}

/** Writes the model (its current parameters and buffers, same architecture) as a TorchScript file, atomically. */
export function saveScriptModule(file: string, model: ScriptModule): void {
  writeFileAtomic(file, model.serialize());
}
