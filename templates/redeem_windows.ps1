# trustdesk-client: download, check each SHA-256, redeem. Windows PowerShell, as administrator.
& {
  $ErrorActionPreference = 'Stop'
  $ProgressPreference = 'SilentlyContinue'
  [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
  $token = {{ token }}
  $dir = Join-Path $env:TEMP ('trustdesk-' + [guid]::NewGuid())
  New-Item -ItemType Directory -Path $dir | Out-Null
  $files = @(
{%- for f in files %}
    @{ Name = '{{ f.name }}'; Sha256 = '{{ f.sha256 }}'; Url = {{ f.url }} }
{%- endfor %}
  )
  foreach ($f in $files) {
    $path = Join-Path $dir $f.Name
    Invoke-WebRequest -UseBasicParsing -Uri $f.Url -OutFile $path
    if ((Get-FileHash -Algorithm SHA256 -LiteralPath $path).Hash -ne $f.Sha256) {
      throw "The SHA-256 of $($f.Name) is not the one the portal shows: stopped, nothing was run."
    }
  }
  $env:TRUSTDESK_TOKEN = $token
  try {
    & (Join-Path $dir 'trustdesk-client.exe') --config (Join-Path $dir 'client.toml') redeem
    "trustdesk-client exit code: $LASTEXITCODE"
  } finally {
    Remove-Item Env:TRUSTDESK_TOKEN -ErrorAction SilentlyContinue
    # Windows PowerShell 5.1 saved this block to its history file: take the token's line out.
    if (Get-Command Get-PSReadLineOption -ErrorAction SilentlyContinue) {
      $h = (Get-PSReadLineOption).HistorySavePath
      if ($h -and (Test-Path -LiteralPath $h)) {
        $keep = @(Get-Content -LiteralPath $h -Encoding UTF8 | Where-Object { -not $_.Contains($token) })
        Set-Content -LiteralPath $h -Value $keep -Encoding UTF8
      }
    }
  }
}
