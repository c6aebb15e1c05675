// The JSON the API answers with. Shared with the page (web/src imports these types only), so both sides agree.
// Types only: no runtime code here.

export interface ApiError { error: string; statusCode: number }

export interface ModelInfo {
  /** Opaque id to pass back as `model`. */
  id: string;
  /** File name (no directory). */
  name: string;
  default: boolean;
  classes: number;
  classNames: string[];
  /** The network, e.g. "PreActResNet-20 16/32/64 half-huber, 10 classes, 3 channels" or a TorchScript module's type. */
  architecture: string;
  /** [channels, height, width] the model is fed. */
  input: [number, number, number];
  /** A one-line description from the file's metadata, when it has one. */
  description: string | null;
}

export interface ModelsResponse { models: ModelInfo[]; default: string }

/** `available` is true for every method this server lists (all of src/explain's); kept in the API for clients. */
export interface MethodInfoJson { name: string; label: string; available: boolean; note?: string }

export interface MethodsResponse {
  methods: MethodInfoJson[];
  defaults: { rho: number; steps: number; overshoot: number; limeSamples: number; seed: number };
  limits: {
    rho: [number, number]; steps: [number, number]; limeSamples: [number, number];
    maxUploadBytes: number; maxImageSide: number; maxImagePixels: number; queue: number;
  };
}

export interface DataInfo { available: boolean; name?: string; records?: number; classNames?: string[] }

export interface RecordThumb { index: number; label: number; className: string; image: string }
export interface RecordsResponse { offset: number; total: number; records: RecordThumb[] }

export interface InputJson {
  source: 'upload' | 'record';
  /** The record's index (source 'record'). */
  record?: number;
  /** The record's label (source 'record'). */
  label?: number;
  /** Original size and what was done to fit the model. */
  note: string;
  /** The model's input as a PNG data: URL. */
  image: string;
}

export interface ClassProbability { class: number; name: string; p: number }

export interface PredictResponse {
  model: string;
  input: InputJson;
  predicted: number;
  probabilities: ClassProbability[];
  seconds: number;
}

export interface AeTargetJson {
  target: number;
  name: string;
  pBefore: number;
  pAfter: number;
  predictedAfter: number;
  rms: number;
  /** x + δ clamped to [0, 1] for display, PNG data: URL. */
  image: string;
  /** δ around mid-grey, on one scale for the whole grid (aeDeltaScale). */
  delta: string;
}

export interface MapJson { target: number; name: string; image: string; detail?: string }

export interface ExplainResponse extends PredictResponse {
  params: { rho: number; steps: number; overshoot: number; limeSamples: number; seed: number };
  methods: string[];
  ae?: { targets: AeTargetJson[]; deltaScale: number };
  gradcam?: MapJson;
  lime?: MapJson;
  saliency?: MapJson;
  smoothgrad?: MapJson;
  ig?: MapJson;
}

export interface ResultSummaryModel {
  model: string;
  n: number | null;
  accuracy: number | null;
  /** Clinical metrics of eval's JSON (issue 13), where present: balanced accuracy, and ROC AUC for two classes. */
  balancedAccuracy?: number | null;
  auc?: number | null;
  ara: Record<string, number>;
  pgd: Record<string, number>;
}

export interface ResultEntry {
  id: string;
  name: string;
  /** Which --results folder (its base name). */
  folder: string;
  kind: 'json' | 'png' | 'svg';
  bytes: number;
  modified: string;
  /** For advexp eval JSON: the headline numbers; null for other JSON. */
  summary?: { models: ResultSummaryModel[]; settings: Record<string, unknown> | null } | null;
}

export interface ResultsResponse { results: ResultEntry[] }
