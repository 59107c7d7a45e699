// Protection patterns: globs on `repo:tag`, such as `registry.freedesktop.org/mesa/**` or `*/gstreamer*:*`.

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

/** A predicate telling whether any of an image's tags matches any pattern. */
export function protectionMatcher(patterns: string[]): (tags: string[]) => boolean {
  const compiled = patterns.map(globToRegExp);
  return (tags) => tags.some((tag) => compiled.some((re) => re.test(tag)));
}
