// Following a paged listing: shared by the Distribution and GitLab clients.

/**
 * Collects the items of every page from `first`: `page` reads one URL and names the next (null:
 * the last page). A URL seen before ends it too: a server whose `Link` loops must not hang us.
 */
export async function collectPages<T>(first: string, page: (url: string) => Promise<{ items: T[]; next: string | null }>): Promise<T[]> {
  const items: T[] = [];
  const seen = new Set<string>();
  let next: string | null = first;
  while (next !== null && !seen.has(next)) {
    seen.add(next);
    const got: { items: T[]; next: string | null } = await page(next);
    items.push(...got.items);
    next = got.next;
  }
  return items;
}
