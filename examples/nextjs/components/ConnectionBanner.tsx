"use client";
/**
 * Where the API stands, in words, one state at a time (the store's `connection`): offline, too
 * many requests (with the seconds left, counting down) or the service's storage down. Each says
 * what happens to the user's changes meanwhile. Nothing shows while online.
 */
import { useEffect, useState } from "react";
import type { ConnectionState } from "@/lib/chat";

export interface ConnectionBannerProps {
  connection: ConnectionState;
  /** Changes made meanwhile, waiting to be sent. */
  queued: number;
}

export function ConnectionBanner({ connection, queued }: ConnectionBannerProps) {
  const retryAt = connection.state === "rate_limited" || connection.state === "store_down" ? connection.retryAt : null;
  const secondsLeft = useSecondsUntil(retryAt);
  if (connection.state === "online") return null;
  const waiting = queued > 0 ? ` ${queued} change${queued === 1 ? " is" : "s are"} waiting.` : "";
  let words: React.ReactNode;
  if (connection.state === "offline") {
    words = (
      <>
        <strong>You&apos;re offline.</strong> Your chats are saved on this device and will sync when the
        connection returns.{waiting}
      </>
    );
  } else if (connection.state === "rate_limited") {
    words = (
      <>
        <strong>Too many requests for now.</strong>{" "}
        {secondsLeft === null || secondsLeft === 0
          ? "Trying again shortly."
          : `You can continue in ${secondsLeft} s.`}{" "}
        Nothing you wrote is lost.{waiting}
      </>
    );
  } else {
    words = (
      <>
        <strong>The chat service is having trouble.</strong> Your changes are kept on this device and
        sent once it recovers
        {secondsLeft === null || secondsLeft === 0 ? "" : ` (trying again in ${secondsLeft} s)`}.{waiting}
      </>
    );
  }
  return (
    <div className="connection-banner" role="status" data-testid="connection-banner" data-state={connection.state}>
      {words}
    </div>
  );
}

/** Whole seconds until `at`, ticking once a second; null without a time. */
function useSecondsUntil(at: Date | null): number | null {
  const target = at?.getTime() ?? null;
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (target === null) return;
    setNow(Date.now());
    const timer = setInterval(() => {
      const time = Date.now();
      setNow(time);
      if (time >= target) clearInterval(timer);
    }, 1_000);
    return () => clearInterval(timer);
  }, [target]);
  return target === null ? null : Math.max(0, Math.ceil((target - now) / 1_000));
}
