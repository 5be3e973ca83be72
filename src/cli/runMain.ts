// Runs a command-line main: exits with its code once stdout has drained (a piped --json trace is larger
// than one pipe buffer, and process.exit() would cut it), or prints its error as one line and exits 1.
export function runMain(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.stdout.write('', () => process.exit(code)),
    (e: Error) => {
      process.stderr.write(`${name}: ${e.message}\n`, () => process.exit(1));
    },
  );
}
