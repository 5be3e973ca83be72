// Issue 29, item 5: the VSIX carries the user's README (README.vsix.md), not the developer's, and every image it shows
// is a file the VSIX holds. `npm run package` checked by unzipping is in the commit that made this; this test keeps
// the three places that must agree (the README's links, .vscodeignore, scripts/package.js) in step without packaging.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');

describe("the VSIX's README (issue 29)", () => {
  it('is README.vsix.md, and each image it shows is in the package', () => {
    const packageJs = fs.readFileSync(path.join(ROOT, 'scripts', 'package.js'), 'utf8');
    assert.match(packageJs, /'--readme-path',\s*'README\.vsix\.md'/);
    const ignore = fs.readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8').split('\n');
    assert.ok(!ignore.includes('!README.md'), "the developer's README stays out of the VSIX");
    const readme = fs.readFileSync(path.join(ROOT, 'README.vsix.md'), 'utf8');
    const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]);
    assert.ok(images.length >= 2, `${images.length} images`);
    for (const image of images) {
      assert.doesNotMatch(image, /^(https?:|\/|\.\.)/, `${image}: a path inside the package`);
      assert.ok(fs.existsSync(path.join(ROOT, image)), `${image} exists`);
      assert.ok(ignore.includes(`!${image}`), `.vscodeignore keeps ${image}`);
    }
    for (const section of ['Get Model', 'Settings', 'Privacy', 'Troubleshooting'])
      assert.match(readme, new RegExp(`## .*${section}|\\*\\*Unmask: ${section}`), section);
    assert.doesNotMatch(readme, /npm (run|test|install)/, 'no developer commands');
  });
});
