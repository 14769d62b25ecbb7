"""Scenario texts shared by the scenario tests."""

# Every key of the format at least once; valid.
FULL = """\
name: everything
description: every key once
server:
  ws_url: wss://im.example.test:10001
  api_url: https://im.example.test:10002
  login:
    mode: custom
    url: /account/login
    method: post
    headers: {X-Tenant: "{user_id}"}
    body: {account: "{user_id}", password: "{password}", platform: "{platform_id}"}
    token_path: data.imToken
ice:
  servers:
    - urls: stun:127.0.0.1:3478
    - urls: ["turn:127.0.0.1:3478?transport=udp"]
      username: u
      credential: 1234
  host_addresses: [127.0.0.1]
  relay_only: true
settings:
  request_timeout_s: 7
  default_expect_within_s: 500ms
x-phone: &phone {platform: android, compression: gzip, data_encoding: base64}
agents:
  alice: {user_id: 0042, password: 123456, nickname: Alice, media: audio}
  bob:
    <<: *phone
    password: pw
    platform: 2
steps:
  - connect: alice
  - connect: [bob]
  - invite:
      from: alice
      to: bob
      timeout_s: 30
  - expect: {agent: bob, event: ringing}
  - reject: {agent: bob}
  - expect: {agent: bob, event: answered, absent: true, for: 1.5}
  - expect: {outcome: rejected, call: 1, within: 1m}
  - send_text: {from: alice, to: [bob], text: yes}
  - expect: {agent: bob, event: text_received, within: 2s}
  - wait: 0.25
  - disconnect: bob
  - reconnect: bob
  - expect: {agent: alice, event: media_flowing, direction: to}
"""
