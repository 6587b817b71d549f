/** The page shell: system fonts only (no font download at build or run time). */
import type { Metadata } from "next";
import type { ReactNode } from "react";
import "./globals.css";

export const metadata: Metadata = {
  title: "chat-store example",
  description: "A chat whose conversations follow you across devices and survive going offline.",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
