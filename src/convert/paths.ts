// Path checks shared by the converter (--out against the checkpoint) and Get Model (--out against its storage and
// downloads): whether one path lies under another, and a path with its links resolved. Node's path and fs only.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** `child` is `parent` or lies under it (both resolved). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

/** The real path of `p`'s nearest existing ancestor with the rest appended (links resolved where they exist). */
export function realish(p: string): string {
  let at = path.resolve(p);
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync(at), ...rest.reverse());
    } catch {
      const up = path.dirname(at);
      if (up === at) return path.resolve(p);
      rest.push(path.basename(at));
      at = up;
    }
  }
}
