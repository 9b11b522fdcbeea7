/**
 * Settles with `work`, or with `onTimeout()` when `ms` pass first (a throw from `onTimeout` rejects). The timer
 * is cleared either way, so a finished race leaves no handle behind. `work` itself is not cancelled: give it an
 * AbortSignal where it must stop.
 */
export async function withTimeout<T, F = undefined>(
  work: PromiseLike<T>,
  ms: number,
  onTimeout?: () => F,
): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<F>((resolve, reject) => {
    timer = setTimeout(
      () => {
        try {
          resolve(onTimeout ? onTimeout() : (undefined as F));
        } catch (err) {
          reject(err as Error);
        }
      },
      Math.max(0, ms),
    );
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
