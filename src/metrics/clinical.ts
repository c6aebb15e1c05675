// Clinical metrics for any number of classes K: accuracy, balanced accuracy (mean per-class recall), per-class
// recall, the confusion matrix, and for K = 2 the ROC AUC of the positive class's probability. On imbalanced data
// (PneumoniaMNIST val: 74% pneumonia) a constant answer already scores the majority share in accuracy, so the
// balanced figures are the ones that say whether a net tells the classes apart.

export interface ClinicalMetrics {
  n: number;
  classes: number;
  accuracy: number;
  /** Mean of the per-class recalls over the classes present in the labels. */
  balancedAccuracy: number;
  /** Per class: correct / images of that class (null where the class has no images). */
  recall: (number | null)[];
  /** Per class: images of that class (the support). */
  support: number[];
  /** confusion[true][predicted]: image counts. */
  confusion: number[][];
  /** The share of the most frequent class: a constant answer's accuracy. */
  majorityRate: number;
  /** K = 2 with both classes present and scores given: ROC AUC of class 1's score (ties count ½); else null. */
  auc: number | null;
}

/** Confusion matrix [true][predicted] of K classes; labels and predictions must lie in [0, K). */
export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, classes: number): number[][] {
  if (labels.length !== predictions.length) throw new Error(`confusionMatrix: ${labels.length} labels but ${predictions.length} predictions`);
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!, p = predictions[i]!;
    if (!(Number.isInteger(y) && y >= 0 && y < classes)) throw new Error(`confusionMatrix: label ${y} at ${i} is not a class in [0, ${classes})`);
    if (!(Number.isInteger(p) && p >= 0 && p < classes)) throw new Error(`confusionMatrix: prediction ${p} at ${i} is not a class in [0, ${classes})`);
    m[y]![p]!++;
  }
  return m;
}

/**
 * ROC AUC: the probability that a positive's score exceeds a negative's, ties counted ½ (the Mann–Whitney U
 * statistic over n₊·n₋, computed from mid-ranks, O(n log n)). Null when either class is absent.
 */
export function rocAuc(scores: ArrayLike<number>, positive: ArrayLike<boolean | number>): number | null {
  const n = scores.length;
  if (positive.length !== n) throw new Error(`rocAuc: ${n} scores but ${positive.length} labels`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let nPos = 0, rankSum = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const midRank = (i + j) / 2 + 1;  // 1-based mid-rank of the tie group
    for (let k = i; k <= j; k++) if (positive[order[k]!]) { nPos++; rankSum += midRank; }
    i = j + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return null;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * All clinical metrics of predictions against labels. positiveScores (K = 2 only): per image the score of class 1
 * (its probability or logit margin), for the AUC.
 */
export function clinicalMetrics(labels: ArrayLike<number>, predictions: ArrayLike<number>, classes: number, positiveScores?: ArrayLike<number>): ClinicalMetrics {
  const confusion = confusionMatrix(labels, predictions, classes);
  const n = labels.length;
  const support = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const recall = confusion.map((row, k) => (support[k]! === 0 ? null : row[k]! / support[k]!));
  const present = recall.filter((r): r is number => r !== null);
  let correct = 0;
  for (let k = 0; k < classes; k++) correct += confusion[k]![k]!;
  let auc: number | null = null;
  if (classes === 2 && positiveScores !== undefined) {
    const pos = Array.from(labels as ArrayLike<number>, (y) => y === 1);
    auc = rocAuc(positiveScores, pos);
  }
  return {
    n, classes, accuracy: n === 0 ? 0 : correct / n,
    balancedAccuracy: present.length === 0 ? 0 : present.reduce((a, b) => a + b, 0) / present.length,
    recall, support, confusion, majorityRate: n === 0 ? 0 : Math.max(...support) / n, auc,
  };
}

/** The metrics as report lines (class names label the recall and the confusion matrix's rows and columns). */
export function formatClinical(m: ClinicalMetrics, classNames: readonly string[]): string[] {
  const name = (k: number): string => classNames[k] ?? String(k);
  const f = (v: number | null): string => (v === null ? '–' : v.toFixed(4));
  const lines = [
    `accuracy ${f(m.accuracy)}   balanced accuracy ${f(m.balancedAccuracy)}   majority rate ${f(m.majorityRate)}` +
      (m.classes === 2 ? `   ROC AUC (${name(1)}) ${f(m.auc)}` : ''),
    `recall per class: ${m.recall.map((r, k) => `${name(k)} ${f(r)} (${m.support[k]})`).join(', ')}`,
  ];
  const width = Math.max(6, ...Array.from({ length: m.classes }, (_, k) => name(k).length), ...m.confusion.flat().map((v) => String(v).length));
  const pad = (s: string): string => s.padStart(width);
  lines.push(`confusion (rows: true, columns: predicted):`);
  lines.push(`  ${pad('')} ${Array.from({ length: m.classes }, (_, k) => pad(name(k))).join(' ')}`);
  m.confusion.forEach((row, k) => lines.push(`  ${pad(name(k))} ${row.map((v) => pad(String(v))).join(' ')}`));
  return lines;
}
