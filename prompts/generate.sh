#!/usr/bin/env bash
# Regenerates every shipped prompt: prompts/en/*.wav and prompts/zh/*.wav.
#
# Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox).
# Output: 8 kHz, mono, 16-bit PCM WAV (what a G.711 call carries), trimmed of leading and
# trailing silence. The text of each prompt is listed in prompts/README.md; keep both in step.
set -euo pipefail
cd "$(dirname "$0")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# say LANG NAME TEXT [VOICE]: one prompt, spoken by one voice.
say() {
  local lang=$1 name=$2 text=$3 voice=${4:-}
  [ -n "$voice" ] || { [ "$lang" = en ] && voice=en-us || voice=cmn; }
  mkdir -p "$lang"
  espeak-ng -v "$voice" -s 160 -w "$tmp/raw.wav" "$text"
  sox -V1 "$tmp/raw.wav" -D -r 8000 -c 1 -b 16 "$lang/$name.wav" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -3 pad 0 0.15
}

# mixed NAME EN_TEXT ZH_TEXT: a bilingual prompt (the language choice), same file in both.
mixed() {
  local name=$1 en=$2 zh=$3
  espeak-ng -v en-us -s 160 -w "$tmp/a.wav" "$en"
  espeak-ng -v cmn -s 160 -w "$tmp/b.wav" "$zh"
  sox -V1 "$tmp/a.wav" "$tmp/b.wav" -D -r 8000 -c 1 -b 16 "$tmp/ab.wav"
  for lang in en zh; do
    mkdir -p "$lang"
    sox -V1 "$tmp/ab.wav" -D "$lang/$name.wav" \
      silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -3 pad 0 0.15
  done
}

# both NAME EN_TEXT ZH_TEXT: the same prompt in English and Mandarin.
both() {
  say en "$1" "$2"
  say zh "$1" "$3"
}

# --- the demo contact centre (dialplans/default.dialplan) ---
mixed choose_language "For English, press 1." "中文服务请按2。"
both welcome "Welcome to the Switchyard demo contact centre." "欢迎致电Switchyard演示中心。"
both main_menu "For sales, press 1. For support, press 2. For billing, press 3. To hear our opening hours, press 4." \
  "销售请按1，技术支持请按2，账单查询请按3，收听营业时间请按4。"
both main_menu_short "Sales 1. Support 2. Billing 3. Opening hours 4." "销售1，技术支持2，账单3，营业时间4。"
both invalid_option "Sorry, that is not a valid choice." "对不起，您的选择无效。"
both no_input "Sorry, we did not hear your choice." "对不起，我们没有收到您的选择。"
both opening_hours "We are open Monday to Friday, from nine in the morning to six in the evening, China time." \
  "我们的营业时间是周一至周五，上午九点到下午六点。"
both time_now "The time in Beijing is" "现在的北京时间是"
both after_hours "Our office is closed now." "现在是非营业时间。"
both holiday "Our office is closed today for a public holiday." "今天是公共假日，我们暂停服务。"
both leave_message "Please leave a message after the tone." "请在提示音后留言。"
both please_hold "Please hold. The next available agent will take your call." "请稍候，我们将为您转接下一位空闲的座席。"
both long_wait "The wait is longer than usual. To be called back, press 1. To keep waiting, press 2." \
  "当前等待时间较长。需要回电请按1，继续等待请按2。"
both callback_confirmed "Thank you. We will call you back on the number" "谢谢，我们将回电至号码"
both all_busy "All our agents are busy." "所有座席都在忙。"
both goodbye "Thank you for calling. Goodbye." "感谢您的来电，再见。"
both technical_problem "Sorry, we have a technical problem. Please call again later." "对不起，系统出现故障，请稍后再拨。"

# --- queue announcements and agent feature codes (call control) ---
both position "You are caller number" "您前面的排队位置是第"
both next_in_line "You are next in line." "您是下一位。"
both estimated_wait "Your estimated wait is" "您的预计等待时间是"
both minutes "minutes." "分钟。"
both minute "minute." "分钟。"
both less_than_a_minute "less than a minute." "不到一分钟。"
both agent_logged_in "You are logged in." "您已登录。"
both agent_logged_out "You are logged out." "您已退出登录。"
both agent_paused "You are paused." "您已暂停接听。"
both agent_ready "You are ready for calls." "您已恢复接听。"
both login_failed "Login failed." "登录失败。"

# --- music on hold: a gentle looped melody, the same file in both languages ---
# Single sine notes below 660 Hz, one at a time: in-band DTMF needs two simultaneous
# tones, one from 697-941 Hz and one from 1209-1633 Hz, so the music can never look like a
# key press (pressing a key during music on hold still works).
music() {
  local notes=(392 440 523 440 392 330 294 330 392 330 294 262 294 330 392 392)
  local files=()
  local i=0
  for f in "${notes[@]}"; do
    sox -V1 -n -r 8000 -c 1 -b 16 "$tmp/n$i.wav" synth 0.5 sine "$f" vol 0.25 fade q 0.05 0.5 0.2
    files+=("$tmp/n$i.wav")
    i=$((i + 1))
  done
  sox -V1 "${files[@]}" "$tmp/melody.wav"
  for lang in en zh; do
    mkdir -p "$lang"
    sox -V1 "$tmp/melody.wav" -D -r 8000 -c 1 -b 16 "$lang/music_on_hold.wav" pad 0 0.5
  done
}
music

# --- words for `say digits`, `say number` and `say time` ---
en_words=(zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
  fifteen sixteen seventeen eighteen nineteen)
for i in "${!en_words[@]}"; do say en "$i" "${en_words[$i]}"; done
for t in 20:twenty 30:thirty 40:forty 50:fifty 60:sixty 70:seventy 80:eighty 90:ninety \
  hundred:hundred thousand:thousand million:million minus:minus oh:oh oclock:"o'clock" \
  am:"A M" pm:"P M"; do
  say en "${t%%:*}" "${t#*:}"
done
zh_words=(零 一 二 三 四 五 六 七 八 九 十)
for i in "${!zh_words[@]}"; do say zh "$i" "${zh_words[$i]}"; done
for t in hundred:百 thousand:千 wan:万 yi:亿 minus:负 am:上午 pm:下午 dian:点 fen:分 zheng:整; do
  say zh "${t%%:*}" "${t#*:}"
done
