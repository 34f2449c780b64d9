import { describe, expect, it } from 'vitest';
import { gitUrlProblem } from './git-url.js';

describe('git remote validation', () => {
  it.each([
    'https://github.com/org/repo.git',
    'http://127.0.0.1:8080/repo.git',
    'ssh://git@example.com/org/repo.git',
    'git://example.com/repo',
    'git@github.com:org/repo.git',
  ])('accepts %s', (url) => expect(gitUrlProblem(url)).toBeUndefined());

  it.each([
    ['file:///etc', /unsupported scheme "file:"/],
    ['ext::sh -c id', /whitespace|remote helper/],
    ['ext::sh', /remote helper/],
    ['fd::17', /remote helper/],
    ['--upload-pack=id', /must not start with "-"/],
    ['-uhttps://x', /must not start with "-"/],
    ['/srv/repo', /https:\/\//],
    ['./repo', /https:\/\//],
    ['https://example.com/re po', /whitespace/],
    ['https://example.com/\nrepo', /control/],
    ['ftp://example.com/repo', /unsupported scheme/],
    ['https://user:ghp_token@github.com/org/repo.git', /must not embed credentials/],
    ['https://ghp_token@github.com/org/repo.git', /must not embed credentials/],
    ['http://:pw@127.0.0.1/repo.git', /must not embed credentials/],
    ['ssh://git:pw@example.com/org/repo.git', /must not embed credentials/],
    ['git://user@example.com/repo', /must not embed credentials/],
  ])('refuses %j', (url, problem) => expect(gitUrlProblem(url)).toMatch(problem));
});
