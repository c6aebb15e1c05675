// A self-contained HTML report: one file, every image inline as a data: URI, no script, no external style or font,
// so it opens offline and can be mailed or attached as it is. `advexp report` fills it (src/cli/report.ts).

export type HtmlBlock =
  | { kind: 'heading'; text: string }
  | { kind: 'paragraph'; text: string }
  | { kind: 'table'; head: string[]; rows: string[][]; caption?: string }
  | { kind: 'image'; mime: 'image/png' | 'image/svg+xml'; data: Buffer | string; alt: string; caption?: string; width?: number };

export interface HtmlReport {
  title: string;
  /** Lines under the title (what was run, on what, how long). */
  meta: string[];
  blocks: HtmlBlock[];
}

/** Text made safe for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A data: URI of bytes or text. */
export function dataUri(mime: string, data: Buffer | string): string {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return `data:${mime};base64,${b.toString('base64')}`;
}

const STYLE = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#555;font-size:.92em;margin:.1em 0}table{border-collapse:collapse;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:left;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
figure{margin:1em 0}figcaption{color:#444;font-size:.92em;margin-top:.3em}img{max-width:100%;height:auto;image-rendering:pixelated}
caption{caption-side:bottom;text-align:left;color:#444;font-size:.9em;padding-top:.3em}`;

function block(b: HtmlBlock): string {
  switch (b.kind) {
    case 'heading': return `<h2>${escapeHtml(b.text)}</h2>`;
    case 'paragraph': return `<p>${escapeHtml(b.text)}</p>`;
    case 'table': {
      const head = `<tr>${b.head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
      const rows = b.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
      return `<table>${b.caption !== undefined ? `<caption>${escapeHtml(b.caption)}</caption>` : ''}\n${head}\n${rows}\n</table>`;
    }
    case 'image': {
      const width = b.width !== undefined ? ` width="${b.width}"` : '';
      const cap = b.caption !== undefined ? `<figcaption>${escapeHtml(b.caption)}</figcaption>` : '';
      return `<figure><img src="${dataUri(b.mime, b.data)}" alt="${escapeHtml(b.alt)}"${width}>${cap}</figure>`;
    }
  }
}

/** The report as one HTML document. */
export function reportHtml(r: HtmlReport): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(r.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(r.title)}</h1>
${r.meta.map((m) => `<p class="meta">${escapeHtml(m)}</p>`).join('\n')}
${r.blocks.map(block).join('\n')}
</body>
</html>
`;
}
