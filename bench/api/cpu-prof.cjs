// Preloaded (NODE_OPTIONS=--require) into the API and the worker by `npm run bench:api -- --cpu-prof`:
// a V8 CPU profile of the process's main thread, written when it exits (NODE_OPTIONS refuses
// --cpu-prof). The worker's workflow threads are not profiled: they end without an exit event.
const { Session } = require('node:inspector');
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  process.once('exit', () => {
    // An in-process session answers synchronously, so this still runs before the process is gone.
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, `${process.argv[process.argv.length - 1].split('/').pop()}-${process.pid}.cpuprofile`),
        JSON.stringify(result.profile),
      );
    });
  });
}
