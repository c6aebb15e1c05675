// advexp predict --model FILE --data PATH [--limit N] [--json OUT]
import { parse, intArg, requireArg } from './args.js';
import { openModel, openCifar, applyThreads, checkOutput, STDOUT } from './common.js';
import { predict, accuracy } from '../metrics/predict.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { Progress } from '../report/progress.js';

const HELP = `usage: advexp predict [--model FILE] --data PATH [--offset K] [--limit N] [--batch B] [--threads T] [--json OUT]
Runs the model (default: the shipped one) over a CIFAR-10 binary batch file in file order and prints accuracy.
--json - writes the JSON to stdout (the accuracy line then goes to stderr). --quiet: no progress bar.`;

export function run(argv: string[]): void {
  const { values } = parse(argv, {
    model: { type: 'string' }, data: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' },
    batch: { type: 'string' }, threads: { type: 'string' }, json: { type: 'string' }, quiet: { type: 'boolean' },
  });
  if (values.help) { console.log(HELP); return; }
  const dataPath = requireArg(values.data, 'data');
  const limit = values.limit === undefined ? undefined : intArg(values.limit, 'limit', 0, 1);
  const batch = intArg(values.batch, 'batch', 256, 1);
  const json = values.json;
  if (json !== undefined && json !== STDOUT) checkOutput(json, 'json', 'file');
  applyThreads(values.threads);
  const { model, file } = openModel(values.model);
  const offset = intArg(values.offset, 'offset', 0, 0);
  const set = openCifar(dataPath, { limit, offset });
  const bar = new Progress({ label: 'predict', total: set.n, unit: 'img', quiet: values.quiet === true });
  let last = 0;
  const { classes } = predict(model, set, { batch, onBatch: (d) => { bar.tick(d - last); last = d; } });
  bar.finish();
  const acc = accuracy(classes, set.labels);
  const say = json === STDOUT ? console.error : console.log;
  say(`${file}: accuracy ${acc.toFixed(4)} on ${set.n} records of ${dataPath}${offset ? ` from record ${offset}` : ''}`);
  const result = { n: set.n, accuracy: acc, predictions: Array.from(classes) };
  if (json === STDOUT) process.stdout.write(JSON.stringify(result, null, 1) + '\n');
  else if (json !== undefined) writeJsonAtomic(json, result);
  model.dispose();
}
