import { describe, expect, it } from "vitest";
import {
  closeCodeName,
  CloseCodes,
  errorCodeName,
  ErrorCodes,
  shouldReconnect,
} from "../src/index.js";

describe("shouldReconnect", () => {
  // The same table as the protocol crate's close_code_ranges_say_whether_to_reconnect,
  // plus the edges of each range.
  const cases: [code: number, reconnect: boolean][] = [
    [CloseCodes.NORMAL, false],
    [1001, true],
    [1005, true],
    [1006, true],
    [1011, true],
    [1015, true],
    [CloseCodes.DRAINING, true],
    [CloseCodes.HEARTBEAT_TIMEOUT, true],
    [CloseCodes.SLOW_CONSUMER, true],
    [CloseCodes.SERVER_ERROR, true],
    [CloseCodes.TOKEN_EXPIRED, true],
    [CloseCodes.FRAME_TOO_LARGE, true],
    [4499, true],
    [CloseCodes.BAD_PROTOCOL, false],
    [CloseCodes.UNAUTHORIZED, false],
    [4999, false],
    [3000, true],
    [5000, true],
  ];
  it.each(cases)("close code %i → reconnect %s", (code, reconnect) => {
    expect(shouldReconnect(code)).toBe(reconnect);
  });
});

describe("code names", () => {
  const errorCases: [code: number, name: string][] = [
    [100, "internal"],
    [101, "unavailable"],
    [200, "bad_frame"],
    [201, "unknown_room"],
    [202, "not_joined"],
    [203, "message_too_large"],
    [204, "rate_limited"],
    [205, "room_rate_limited"],
    [206, "forbidden"],
    [207, "too_many_rooms"],
    [208, "invalid_value"],
    [300, "room_full"],
    [301, "muted"],
    [302, "banned"],
    [303, "blacklisted"],
    [304, "room_muted"],
    [305, "filtered"],
    [306, "attr_refused"],
    [307, "attr_conflict"],
    [308, "backlog_full"],
    [9999, "unknown"],
  ];
  it.each(errorCases)("error code %i is %s", (code, name) => {
    expect(errorCodeName(code)).toBe(name);
  });

  const closeCases: [code: number, name: string][] = [
    [1000, "normal"],
    [4000, "draining"],
    [4001, "heartbeat_timeout"],
    [4002, "slow_consumer"],
    [4003, "server_error"],
    [4004, "token_expired"],
    [4005, "frame_too_large"],
    [4500, "bad_protocol"],
    [4501, "unauthorized"],
    [1006, "unknown"],
  ];
  it.each(closeCases)("close code %i is %s", (code, name) => {
    expect(closeCodeName(code)).toBe(name);
  });

  it("has one name per error code", () => {
    const values = Object.values(ErrorCodes);
    expect(new Set(values).size).toBe(values.length);
  });

  // 308 backlog_full comes with the protocol additions for live rooms (reliable messages).
  it("knows every code of the protocol crate's ErrorCode::KNOWN", () => {
    expect(Object.values(ErrorCodes)).toEqual([100, 101, 200, 201, 202, 203, 204, 205, 206, 207, 208, 300, 301, 302, 303, 304, 305, 306, 307, 308]);
  });
});
