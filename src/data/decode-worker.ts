// The worker behind decode-sync.ts: decodes the files it is sent with decode.ts (concurrently: libvips has its
// own threads), posts the results, then raises the shared flag the blocked caller waits on. It always answers, even
// when sharp cannot load, so the caller never waits for nothing.
import { workerData, type MessagePort } from 'node:worker_threads';
import type { DecodeReply } from './decode-sync.js';

const { port, flag } = workerData as { port: MessagePort; flag: Int32Array };
let decode: ((file: string) => Promise<{ width: number; height: number; rgb: Uint8Array }>) | null = null;
let loadError: string | null = null;
try {
  decode = (await import('./decode.js')).decodeImageFile;
} catch (e) {
  loadError = `the image decoder (sharp) cannot load: ${String((e as Error).message).split('\n')[0]}`;
}

port.on('message', (files: string[]) => {
  const answer = async (): Promise<DecodeReply> => {
    if (decode === null) return { fatal: loadError! };
    return {
      results: await Promise.all(files.map(async (f) => {
        try {
          const { width, height, rgb } = await decode!(f);
          return { image: { width, height, rgb } };
        } catch (e) {
          return { error: String((e as Error).message) };
        }
      })),
    };
  };
  void answer().catch((e: unknown) => ({ fatal: String((e as Error).message) })).then((reply) => {
    port.postMessage(reply);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  });
});
