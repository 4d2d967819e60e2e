from bot.messages.blocks import button, escape_mrkdwn, plain, said, said_plainly, time_left
from standins.slack import validate_blocks


def test_the_fallback_of_mrkdwn_drops_the_marks_and_reads_as_one_line():
    assert plain("*Org:* *Acme* (`00D1`)\n*What to do:* run `/qc status`") == \
        "Org: Acme (00D1) What to do: run /qc status"


def test_a_one_section_message_keeps_or_plains_its_text():
    assert said("Run `/qc status`.").text == "Run `/qc status`."
    emphasised = said_plainly("Click *Reveal credentials* again.")
    assert emphasised.text == "Click Reveal credentials again."
    assert emphasised.blocks[0]["text"]["text"] == "Click *Reveal credentials* again."
    assert validate_blocks(emphasised.blocks) == []


def test_a_button_has_only_the_keys_it_was_given():
    assert button(action_id="a", text="Go", value="v") == {
        "type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "Go"}, "value": "v"}


def test_time_left_rounds_to_days_then_hours():
    from datetime import timedelta

    assert time_left(timedelta(days=6, hours=13)) == "7 days"
    assert time_left(timedelta(hours=5, minutes=59)) == "5 hours"
    assert time_left(timedelta(minutes=59)) == "less than an hour"


def test_escape_mrkdwn_makes_links_mentions_and_entities_inert():
    assert escape_mrkdwn("<https://evil.example|Click here> <!channel> <@U1> &amp;") == (
        "&lt;https://evil.example|Click here&gt; &lt;!channel&gt; &lt;@U1&gt; &amp;amp;")
