import { existsSync, readFileSync } from 'node:fs';

/*
 * BENCHMARKS.md is written by more than one command (npm run bench, npm run scale:memory). Each
 * owns a section between markers; a writer keeps the sections it does not own as they were.
 */
const marker = (name: string, end = false) => `<!-- section ${name} ${end ? 'end' : 'start'} -->`;

/** The named sections of a file, with their markers, as they stand. */
export function readSections(file: string): Map<string, string> {
  const sections = new Map<string, string>();
  if (!existsSync(file)) return sections;
  const text = readFileSync(file, 'utf8');
  const pattern = /<!-- section (\S+) start -->[\s\S]*?<!-- section \1 end -->/g;
  for (const match of text.matchAll(pattern)) sections.set(match[1], match[0]);
  return sections;
}

/** A section's body wrapped in its markers. */
export function section(name: string, body: string): string {
  return `${marker(name)}\n${body.trim()}\n${marker(name, true)}`;
}

/** The file's text with one section replaced (or appended), the rest untouched. */
export function withSection(file: string, name: string, body: string): string {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const wrapped = section(name, body);
  const current = readSections(file).get(name);
  if (current) return text.replace(current, wrapped);
  return `${text.trimEnd()}\n\n${wrapped}\n`;
}
