// advexp predict --model FILE --data PATH [--offset K] [--limit N] [--json OUT]
import { parse, intArg, requireArg } from './args.js';
import { openModel, openData, applyThreads, checkOutput, modelChoices, dataOptions, classCount, MODEL_FLAGS, MODEL_FLAG_HELP, STDOUT } from './common.js';
import { UserError } from './errors.js';
import { predict, accuracy } from '../metrics/predict.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { Progress } from '../report/progress.js';

const HELP = `usage: advexp predict [--model FILE] --data PATH [--offset K] [--limit N] [--batch B] [--threads T] [--json OUT]
Runs the model (default: the shipped one) over a data set in file order and prints accuracy: CIFAR-10 batch
file(s), their directory or tarball, or an image folder (one sub-folder per class, sorted names = labels; files
sorted by name within each), brought to the model's input (--resize).
--json - writes the JSON to stdout (the accuracy line then goes to stderr). For image folders the JSON lists every
image as {"file", "label", "prediction"} under "images", in that order (class folders by name, files by name).
${MODEL_FLAG_HELP}
  --quiet               no progress bar`;

export function run(argv: string[]): void {
  const { values } = parse(argv, {
    model: { type: 'string' }, data: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' },
    batch: { type: 'string' }, threads: { type: 'string' }, json: { type: 'string' }, quiet: { type: 'boolean' }, ...MODEL_FLAGS,
  });
  if (values.help) { console.log(HELP); return; }
  const dataPath = requireArg(values.data, 'data');
  const limit = values.limit === undefined ? undefined : intArg(values.limit, 'limit', 0, 1);
  const batch = intArg(values.batch, 'batch', 256, 1);
  const offset = intArg(values.offset, 'offset', 0, 0);
  const json = values.json;
  if (json !== undefined && json !== STDOUT) checkOutput(json, 'json', 'file');
  const choices = modelChoices(values);
  applyThreads(values.threads);
  const m = openModel(values.model, choices.overrides);
  const { model, file } = m;
  try {
    const all = openData(dataPath, { ...dataOptions(m, choices.resize), ...(limit !== undefined ? { limit: offset + limit } : {}) });
    if (offset >= all.n && all.n > 0) throw new UserError(`--offset ${offset}: ${dataPath} has ${all.n} image(s)`);
    const set = offset === 0 ? all : all.subset(Array.from({ length: all.n - offset }, (_, i) => offset + i), `${dataPath} from ${offset}`);
    const K = classCount(m, set.shape);
    const bad = set.labels.find((l) => l >= K);
    if (bad !== undefined) throw new UserError(`${dataPath}: label ${bad}, but ${file} has ${K} classes`);
    const bar = new Progress({ label: 'predict', total: set.n, unit: 'img', quiet: values.quiet === true });
    let last = 0;
    const { classes } = predict(model, set, { batch, onBatch: (d) => { bar.tick(d - last); last = d; } });
    bar.finish();
    const acc = accuracy(classes, set.labels);
    const say = json === STDOUT ? console.error : console.log;
    const unit = set.files === null ? 'record' : 'image';
    say(`${file}: accuracy ${acc.toFixed(4)} on ${set.n} ${unit}s of ${dataPath}${offset ? ` from ${unit} ${offset}` : ''}`);
    const files = set.files;
    const result = {
      n: set.n, accuracy: acc, predictions: Array.from(classes),
      ...(files !== null ? { images: files.map((f, i) => ({ file: f, label: set.labels[i]!, prediction: classes[i]! })) } : {}),
    };
    if (json === STDOUT) process.stdout.write(JSON.stringify(result, null, 1) + '\n');
    else if (json !== undefined) writeJsonAtomic(json, result);
  } finally {
    model.dispose();
  }
}
