import { isContentId, newContentId } from "./content-id";

test("newContentId gives 32 lowercase hex digits, fresh each time", () => {
  const ids = new Set(Array.from({ length: 100 }, () => newContentId()));
  expect(ids.size).toBe(100);
  for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
});

test("isContentId accepts only 32 lowercase hex digits", () => {
  expect(isContentId(newContentId())).toBe(true);
  expect(isContentId("0123456789abcdef0123456789abcdef")).toBe(true);
  expect(isContentId("0123456789ABCDEF0123456789ABCDEF")).toBe(false);
  expect(isContentId("0123456789abcdef0123456789abcde")).toBe(false);
  expect(isContentId("0123456789abcdef0123456789abcdef0")).toBe(false);
  expect(isContentId("g123456789abcdef0123456789abcdef")).toBe(false);
  expect(isContentId(" 0123456789abcdef0123456789abcdef")).toBe(false);
  expect(isContentId(null)).toBe(false);
  expect(isContentId(42)).toBe(false);
});
