// Reads YAML text for the config and policy loaders: syntax errors, bad aliases and such come back
// as a ConfigError with the file and line, never as the yaml library's own exception.
import { LineCounter, parseDocument, visit, type Document } from 'yaml';
import { ConfigError, errorText } from '../errors';

export interface YamlFile {
  doc: Document;
  lines: LineCounter;
  /** The document as plain data; null for an empty document. */
  value: unknown;
}

/** Parses `text` (the contents of `file`); `failsafe` keeps every scalar as text. */
export function readYaml(file: string, text: string, schema: 'core' | 'failsafe' = 'core'): YamlFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, schema });
  const syntax = doc.errors[0];
  if (syntax) throw new ConfigError(file, `YAML syntax error: ${syntax.message.split('\n')[0]}`, undefined, lines.linePos(syntax.pos[0]).line);
  try {
    // toJS resolves aliases and can still fail (an alias to an anchor defined later, say).
    return { doc, lines, value: doc.contents === null ? null : doc.toJS() };
  } catch (error) {
    // Only aliases fail here; point at the first one.
    let offset: number | undefined;
    visit(doc, { Alias: (_key, node) => ((offset ??= node.range?.[0]), visit.BREAK) });
    throw new ConfigError(file, `YAML error: ${errorText(error).split('\n')[0]}`, undefined, offset === undefined ? undefined : lines.linePos(offset).line);
  }
}
