// Stops the shared registry and builder engine by PID.
export default async function globalTeardown(): Promise<void> {
  const shared = globalThis.__IE_SHARED__;
  if (shared === undefined) return;
  await shared.builder.stop();
  await shared.registry.stop();
}
