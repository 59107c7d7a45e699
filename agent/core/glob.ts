// Globs on `repo:tag`, repository and container names, such as `registry.freedesktop.org/mesa/**` or `*/gstreamer*:*`.

/** `**` matches anything, `*` anything but `/`, `?` one character but `/`; the rest is literal. */
export function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i] as string;
    if (c === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i += 1;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

// Patterns come from config and policy files: few, and matched against every image at every check.
const compiled = new Map<string, RegExp>();

/** `globToRegExp`, compiled once per pattern. */
export function compiledGlob(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (re === undefined) compiled.set(pattern, (re = globToRegExp(pattern)));
  return re;
}
