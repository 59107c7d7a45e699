// A line chart as SVG text: free space over the replay's jobs, one line per contender, with the
// agent's thresholds drawn. No plotting dependency: the picture is a few paths and labels.
import { formatBytes } from '../agent/core/units';

export interface Series {
  name: string;
  color: string;
  points: Array<{ x: number; y: number }>;
}

export interface HLine {
  name: string;
  y: number;
  color: string;
}

const WIDTH = 900;
const HEIGHT = 420;
const PAD = { left: 80, right: 20, top: 40, bottom: 50 };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The chart: x is the job number, y bytes free (printed in binary units). */
export function freeSpaceChart(title: string, series: Series[], lines: HLine[], maxY: number): string {
  const maxX = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.x)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const sx = (x: number) => PAD.left + (x / maxX) * plotW;
  const sy = (y: number) => PAD.top + plotH - (Math.max(0, y) / maxY) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i += 1) {
    const y = (maxY * i) / 5;
    parts.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${sy(y)}" y2="${sy(y)}" stroke="#ddd"/>`);
    parts.push(`<text x="${PAD.left - 6}" y="${sy(y) + 4}" text-anchor="end">${escapeXml(formatBytes(y))}</text>`);
  }
  for (let i = 0; i <= 6; i += 1) {
    const x = Math.round((maxX * i) / 6);
    parts.push(`<text x="${sx(x)}" y="${HEIGHT - PAD.bottom + 18}" text-anchor="middle">${x}</text>`);
  }
  parts.push(`<text x="${PAD.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">job</text>`);
  parts.push(`<text x="16" y="${PAD.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${PAD.top + plotH / 2})">lowest free space during the job</text>`);
  for (const line of lines) {
    parts.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${sy(line.y)}" y2="${sy(line.y)}" stroke="${line.color}" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${WIDTH - PAD.right - 4}" y="${sy(line.y) - 4}" text-anchor="end" fill="${line.color}">${escapeXml(`${line.name} ${formatBytes(line.y)}`)}</text>`);
  }
  for (const s of series) {
    const d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
  }
  series.forEach((s, i) => {
    const y = PAD.top + 14 + i * 16;
    parts.push(`<line x1="${PAD.left + 10}" x2="${PAD.left + 30}" y1="${y - 4}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(`<text x="${PAD.left + 36}" y="${y}">${escapeXml(s.name)}</text>`);
  });
  parts.push(`<rect x="${PAD.left}" y="${PAD.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
