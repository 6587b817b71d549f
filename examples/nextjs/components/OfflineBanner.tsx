/** Shown while the API is unreachable: the app keeps working from this device's copy. */
export function OfflineBanner({ queued }: { queued: number }) {
  return (
    <div className="offline-banner" role="status" data-testid="offline-banner">
      <strong>Offline.</strong> Your chats are saved on this device and will sync when the connection
      returns{queued > 0 ? ` (${queued} change${queued === 1 ? "" : "s"} waiting)` : ""}.
    </div>
  );
}
