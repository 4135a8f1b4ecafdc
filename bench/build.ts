/** Build benchmarks side by side with Docker's BuildKit: filled in with the cache work. */
export async function benchBuild(): Promise<void> {
  console.log('build: not measured yet');
}
